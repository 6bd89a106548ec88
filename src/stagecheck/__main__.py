from stagecheck.cli import main

main()
