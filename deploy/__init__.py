"""Building what a deployment uploads: the app's files (minus `.funcignore`) and its
dependencies under `.python_packages/lib/site-packages`, the way Core Tools and Azure's
build lay them out. Nothing here is shipped: `.funcignore` leaves this folder out."""
