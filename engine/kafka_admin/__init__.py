"""Kafka admin queries for the views: reachability, topics with their partitions, consumer groups and lag.

Plain Python over confluent-kafka's AdminClient and Consumer; every call has a deadline.
"""
