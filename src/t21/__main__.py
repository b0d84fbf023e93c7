from t21.cli import main

main()
