from elasticc_stream.cli.main import main

raise SystemExit(main())
