"""The everyday loop: read a deployed stage's logs, run handlers locally, serve the API locally.

`commands.py` holds the click commands (only click is imported there); boto3, moto and the
handlers themselves load when a command runs.
"""
