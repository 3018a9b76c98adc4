import sys

from nasbeyond.cli import main

sys.exit(main())
