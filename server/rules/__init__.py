"""Rule files: models, loader, the condition language, scoring, lifecycle, the live-rules manager.
Pure: may import the core only, never store, services, db, api, web, cli or pymongo.
"""
