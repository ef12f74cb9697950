"""Titles as projects: several game titles in one install, each with its own data, models, schedules and serving.

``validation`` checks names, ``registry`` keeps the one declared list of titles (an S3 object outside every title's
prefix), ``plan`` derives what a title needs (pure), ``create`` / ``delete`` / ``listing`` do it, ``serving`` adds
the ``/titles/{title}/...`` routes and ``operator`` the operator API's title operations.
"""
