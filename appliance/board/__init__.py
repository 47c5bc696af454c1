"""What makes it an appliance on a board: first-boot settings (camera capture comes next)."""
