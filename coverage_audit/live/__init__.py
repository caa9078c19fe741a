"""Live sources (DESIGN 3.6, 5.3): rules, series and silences from a running Prometheus (or Thanos,
Mimir, Cortex) and Alertmanager, and the evidence the judge draws from them.

* ``endpoint``   where a server is and how to authenticate (settings only; no HTTP imported)
* ``transport``  HTTP: credentials, CA, timeout, retries, deadline, bounded concurrency
* ``prometheus`` / ``alertmanager``  the two APIs as coverage-audit uses them
* ``rules``      rule sources behind one protocol (files, rules API, ruler API) and their merge
* ``liveness``   which reads an alert's firing needs
* ``evidence``   dead reads, silences, the metric families a subject emits
* ``discovered`` calls the service graph shows
* ``session``    the live sources of one run

Importing this package imports nothing heavy: ``requests`` comes with ``transport``.
"""
