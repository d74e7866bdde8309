from actsearch.cli import main

main()
