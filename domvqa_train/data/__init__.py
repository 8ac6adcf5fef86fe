"""Making the data: ``generate`` questions from pages, ``label`` their difficulty, ``filter`` to a split."""
