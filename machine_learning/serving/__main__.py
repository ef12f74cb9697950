"""``python -m machine_learning.serving``: run the serving API (see ``machine_learning.serving.app.main``)."""

from machine_learning.serving.app import main

if __name__ == "__main__":
    main()
