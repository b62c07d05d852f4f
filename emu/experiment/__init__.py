"""`emu experiment FILE.toml`: a whole write-up's runs from one file.

    model.py    what an experiment is: the file's matrix, its runs and where they go
    run.py      running the matrix (finished runs are kept)
    report.py   the outputs: CSV, plots, ministat inputs, report.md
"""
