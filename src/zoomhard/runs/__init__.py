"""A run folder and what reads and writes it.

    store.py     RunStore: run.json, the Parquet parts, errors.csv; the parts' checks
    identity.py  what must match for a folder to be resumed, its digest, library versions
    lock.py      who may write a folder (flocks), and run.json's read-modify-write
    files.py     the package's one atomic writer and one file hash
    tables.py    a predictions table as (images x transforms) matrices, images in their order
"""
