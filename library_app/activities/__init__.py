"""Pages of reading activities, volunteers and the annual report."""
