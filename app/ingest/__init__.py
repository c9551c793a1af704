"""Getting data in: event and catalog validation, the importer, parallel validation, the
``import`` command's loaders and the sources they read (files, datasets, the demo shop)."""
