#!/bin/bash
# Healthy when the server accepts connections on TCP port 5432.
exec pg_isready -q -h 127.0.0.1 -p 5432 -d "${POSTGRES_DB:-postgres}" -U "${POSTGRES_USER:-postgres}" -t 2
