"""The file `graphroute app` hands to `streamlit run`; it imports the explorer as a package.

Streamlit puts the folder of the script it runs first on ``sys.path``. This folder holds this
file alone, so nothing in it can shadow a top-level package (a module here named ``datasets``
once hid Hugging Face's from sentence-transformers). Keep it the only file in its folder, and
keep it free of code: the page lives in ``graphroute.app.page``.
"""

import sys

from graphroute.app.page import main

main(sys.argv[1:])
