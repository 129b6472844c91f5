"""The graphroute explorer: `streamlit run app/explorer.py [-- --router DIR]` (or `graphroute app`)."""
import sys

from graphroute.app.explorer import main

main(sys.argv[1:])
