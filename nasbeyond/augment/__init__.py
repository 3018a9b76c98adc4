"""Learned data augmentation: ops, transforms, policy search, detection."""
