"""Tests of the payload signatures (`detector.signatures`)."""
