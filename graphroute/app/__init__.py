"""The graphroute explorer, a Streamlit app over one router: ``graphroute app [--router DIR] [--port N]``.

``compute`` works out what the page shows (no Streamlit), ``figures`` draws the two pictures,
``page`` lays out the sidebar and the tabs, and ``launch`` builds the ``streamlit run`` command,
which runs ``script/graphroute_explorer.py``. Nothing is imported here, so ``graphroute app``
starts Streamlit without loading the explorer first.
"""
