from benchorch.cli.main import main

main()
