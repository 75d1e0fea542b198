from feedguard_cli.main import run

run()
