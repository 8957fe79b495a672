"""Images and files in and out, and folders of them."""
