"""Service organisations (the agencies a Pudong 3A case is referred to) and their member users."""
