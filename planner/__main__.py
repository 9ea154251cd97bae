from planner._entry import main

main()
