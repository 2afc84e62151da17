"""One CloudFormation stack per concern: network, data, security, observability, functions, gateway."""
