"""The tradeops CDK app: stacks built from the routing, table and settings definitions in tradeops."""
