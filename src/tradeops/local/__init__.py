"""The embedded stack (``tradeops up``): moto as AWS, provisioning, a local function runner and scheduler.

Modules here import boto3/moto lazily where they can, so ``tradeops --help`` stays fast.
"""
