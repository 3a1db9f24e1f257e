"""The HTML pages: the landing page, the live feed, the galaxy map and station pages (`views`,
read by `galaxy`), and the admin's operations summary (`operations`)."""
