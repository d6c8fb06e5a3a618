"""Every registry feed the sync and the feedback know, by name: a new feed is a module that fills
`feed.Feed`, listed here."""
from transforms.registry import ncmec, stopncii

FEEDS = {feed.name: feed for feed in (ncmec.FEED, stopncii.FEED)}
