"""The README's ten-line search: aging evolution over the macro CNN space on MNIST-5k."""

from nasbeyond.run import LocalExecutor, SQLiteStore, run
from nasbeyond.space import MacroCNNSpace
from nasbeyond.strategy import AgingEvolution
from nasbeyond.train import Trainer, weights_path

if __name__ == "__main__":  # worker processes are spawned: guard the entry point
    space = MacroCNNSpace(max_layers=4)
    trainer = Trainer(space, dataset="mnist5k", epochs=2)
    store = SQLiteStore("runs/quickstart")  # rerun this script to resume
    best = run(
        space,
        AgingEvolution(space, seed=0, population_size=8),
        trainer,
        store=store,
        trials=20,
        executor=LocalExecutor(workers=2),
        progress=True,  # the CLI's progress line on stderr
    )
    print(
        space.describe(best.arch),
        f"val {best.reward:.4f}",
        f"test {trainer.test(best.arch, weights_path('runs/quickstart', best.id)):.4f}",
    )
    # The run directory opens from the CLI like any other:
    #   nasbeyond show runs/quickstart; nasbeyond draw runs/quickstart; nasbeyond export ...
