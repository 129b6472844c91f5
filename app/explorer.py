"""The explorer from a clone: ``streamlit run app/explorer.py [-- --router DIR]`` (installed: ``graphroute app``).

Streamlit puts this folder first on ``sys.path``; it holds this file alone, so nothing here can
shadow a package. The page is ``graphroute.app.page``, imported as a package.
"""

import sys

from graphroute.app.page import main

main(sys.argv[1:])
