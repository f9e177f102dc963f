import sys

if __name__ == "__main__":
    if len(sys.argv) > 1:  # before the training libraries are imported: a job without 4-bit never loads bitsandbytes
        from .model import hide_bitsandbytes
        hide_bitsandbytes(sys.argv[1])
    from .run import main
    sys.exit(main())
