"""A/B tests on live traffic: which variant a user is in, which impressions their
events are clicks on, and whether the challenger truly beats the champion."""
