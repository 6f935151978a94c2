"""Reports and the run browser: read run folders, write HTML (`genzoo report`) or serve it (`genzoo serve`)."""
