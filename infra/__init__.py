"""The Docker-free local stack (make dev) and the tools that read template.yaml."""
