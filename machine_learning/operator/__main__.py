"""``python -m machine_learning.operator``: run the operator API (see ``machine_learning.operator.app.main``)."""

from machine_learning.operator.app import main

if __name__ == "__main__":
    main()
