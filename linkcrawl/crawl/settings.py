"""Scrapy settings for linkcrawl: polite by default, each setting commented.

Override any of them with ``linkcrawl crawl -s NAME=VALUE`` or ``scrapy crawl links -s``.
Scrapy's own settings are documented at https://docs.scrapy.org/en/latest/topics/settings.html
"""

BOT_NAME = "linkcrawl"
SPIDER_MODULES = ["linkcrawl.spiders"]
NEWSPIDER_MODULE = "linkcrawl.spiders"

# Say who we are; site owners read this in their logs. The robots.txt name is "linkcrawl".
USER_AGENT = "linkcrawl/0.1 (link graph crawler; +https://pypi.org/project/linkcrawl/)"
ROBOTSTXT_USER_AGENT = "linkcrawl"

# -- politeness ---------------------------------------------------------------------------
# Obey robots.txt (Disallow rules).
ROBOTSTXT_OBEY = True
# A modest total, and at most two requests in flight per domain.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Start with half a second between requests to one site; AutoThrottle then adapts the delay
# to the server's response times.
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Allow connections to loopback and private addresses (for crawling a staging site).
LINKCRAWL_ALLOW_PRIVATE = False
# Crawl-delay in robots.txt is honoured per host, up to this many seconds.
LINKCRAWL_CRAWL_DELAY_MAX = 30.0
# robots.txt is read up to this many bytes (Google's 500 KiB), whatever DOWNLOAD_MAXSIZE
# says; the rest is ignored (0: no limit of its own, DOWNLOAD_MAXSIZE applies).
LINKCRAWL_ROBOTSTXT_MAX_BYTES = 500 * 1024

# Breadth-first: pages near the seeds first, as SEO crawlers do, so that --max-pages keeps
# the shallowest pages and each page's depth is its shortest click path.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

# -- bounds ---------------------------------------------------------------------------------
# Give up on a response after 30 s, and on bodies over 10 MiB (decompressed size counts).
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
# URLs longer than this are not requested (their links are still recorded).
URLLENGTH_LIMIT = 2083
# Retry network errors and 5xx twice.
RETRY_TIMES = 2

# -- what the spider sees -----------------------------------------------------------------
# Redirects and meta refresh are handled by the spider, which records them as edges, so
# the middlewares that would follow them silently are off.
REDIRECT_ENABLED = False
METAREFRESH_ENABLED = False
# Every status reaches the spider: a 404 is a pages row, not a dropped response.
HTTPERROR_ALLOW_ALL = True
# Cookies would make a link graph depend on crawl order.
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy's remote control runs Python sent to a local HTTP port, and writes a job file to the
# user's profile directory (a traceback when that disk is full): not on a crawl server.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"

ITEM_PIPELINES = {"linkcrawl.crawl.pipeline.ParquetPipeline": 300}
# Crawl-delay from robots.txt (Scrapy obeys Disallow only); after RobotsTxtMiddleware (100).
DOWNLOADER_MIDDLEWARES = {
    # Crawl-delay, and robots.txt answering 5xx = disallow all (Google's rule).
    "linkcrawl.crawl.middlewares.RobotsTxtPolicyMiddleware": 110,
    # robots.txt read up to its first 500 KiB, not dropped when over DOWNLOAD_MAXSIZE;
    # after HttpCompressionMiddleware (590), to see responses before it decompresses them.
    "linkcrawl.crawl.middlewares.RobotsTxtSizeMiddleware": 595,
    # Refuses loopback, private, link-local (cloud metadata), multicast and reserved
    # addresses; after HttpProxyMiddleware (750), since a user-configured proxy is exempt.
    "linkcrawl.crawl.middlewares.AddressGuardMiddleware": 760,
    # An incremental crawl's conditional requests (If-None-Match, If-Modified-Since from
    # the earlier crawl's pages rows); off unless LINKCRAWL_SINCE is set.
    "linkcrawl.crawl.incremental.ConditionalRequests": 580,
}
# Names are checked on the address the connection will use (see AddressGuardMiddleware).
TWISTED_DNS_RESOLVER = "linkcrawl.crawl.middlewares.GuardedResolver"
# Hands URLs between the processes of `linkcrawl crawl --workers N` (off otherwise).
EXTENSIONS = {
    "linkcrawl.crawl.frontier.workers.WorkerExchange": 500,
    "linkcrawl.crawl.external_log.ExternalCheckLog": 500,
}

# -- linkcrawl ------------------------------------------------------------------------------
# Where the dataset is written (see README, "The dataset on disk").
LINKCRAWL_DATA_DIR = "data"
# The crawl id; empty means a new one from the UTC time, such as c20261122T030000Z.
LINKCRAWL_CRAWL_ID = ""
# Write a part file every this many edge rows, or every this many seconds, whichever first.
LINKCRAWL_FLUSH_ROWS = 65_536
LINKCRAWL_FLUSH_SECONDS = 60.0
# The first part is written this many seconds after the first page (0: after
# LINKCRAWL_FLUSH_SECONDS), the interval then doubling up to LINKCRAWL_FLUSH_SECONDS, so that
# a crawl stopped in its first minute leaves a dataset every reader opens.
LINKCRAWL_FIRST_FLUSH_SECONDS = 2.0
# Follow links at most this many hops from a seed (0: the seeds only; -1: no limit).
LINKCRAWL_MAX_DEPTH = -1
# Pages fetched per registered domain at most (0: no limit).
LINKCRAWL_MAX_PAGES_PER_DOMAIN = 0
# Traps: a path with more than this many distinct query strings (endless calendars,
# faceted search), or more than this many URLs of one host that differ only in their
# digits (/calendar/2026/11/, /calendar/2026/12/, ...), is suspected; it is then cut only
# if its pages repeat each other (fewer than half of 50 or more fetched ones differ in
# title and links, digits aside), and until judged its new URLs wait: a shop with 100,000
# numbered products is crawled whole. A path with one word segment repeated this many
# times (/a/b/a/b/a/) is not requested. 0 turns a guard off.
LINKCRAWL_MAX_QUERY_VARIANTS = 200
LINKCRAWL_MAX_DIGIT_VARIANTS = 2000
LINKCRAWL_MAX_SEGMENT_REPEATS = 3
# Per page: keep at most this many links (the page's error column then says
# links-capped:<found>), and skip link targets longer than this many characters.
LINKCRAWL_MAX_LINKS_PER_PAGE = 10_000
LINKCRAWL_MAX_TARGET_LENGTH = 8192
# Parse and extract each page's links in this many worker processes, off the reactor, so
# that one page cannot stall the fetching; a page still parsing after LINKCRAWL_PARSE_TIMEOUT
# seconds has its worker killed and is recorded with error "parse-timeout" (0: no limit).
# 0 workers: extract in the crawl's own thread, with no time limit.
LINKCRAWL_PARSE_WORKERS = 2
LINKCRAWL_PARSE_TIMEOUT = 20.0
# Follow at most this many redirects (3xx or meta refresh) in a row; every hop is an edge.
LINKCRAWL_MAX_REDIRECTS = 10
# Fetch each link target outside the crawl's scope once (HEAD, then GET if HEAD is refused)
# to record its status, for broken-link reports.
LINKCRAWL_CHECK_EXTERNAL = False
# Read each seed host's sitemaps (robots.txt Sitemap lines, else /sitemap.xml; indexes and
# gzip followed) once the links are crawled: their entries are the sitemaps table, and the
# entries in scope that no link reached are crawled (depth null, discovered_by "sitemap").
# `linkcrawl crawl --no-sitemaps` turns it off. The protocol's limits per file: 50,000 URLs
# (the rest skipped, the file's pages row says sitemap-too-many-urls) and 50 MB
# uncompressed (the file is not read: sitemap-too-large); index files are followed this
# many levels deep.
LINKCRAWL_SITEMAPS = True
LINKCRAWL_SITEMAP_MAX_URLS = 50_000
LINKCRAWL_SITEMAP_MAX_BYTES = 50 * 1024 * 1024
LINKCRAWL_SITEMAP_INDEX_DEPTH = 2
# JavaScript rendering (`linkcrawl crawl --render`, docs/rendering.md): never, auto (pages
# whose HTML looks like a client-rendered shell, or whose URL matches
# LINKCRAWL_RENDER_PATTERN, a regex) or always. Needs linkcrawl[render] (scrapy-playwright)
# and Chromium: LINKCRAWL_CHROMIUM names the program, else chromium-headless-shell on PATH
# (Playwright never downloads a browser).
LINKCRAWL_RENDER = "never"
LINKCRAWL_RENDER_PATTERN = ""
LINKCRAWL_CHROMIUM = ""
# More arguments for Chromium, as on a command line ("--lang=de --disable-features=X").
LINKCRAWL_CHROMIUM_ARGS = ""
# Pages open in the browser at once, and each page's time budget in seconds (load, then
# until it is quiet; the DOM as it stands when the budget is spent). A page whose
# rendering fails is tried again this many times, then keeps the links of its HTML.
# Pages: 0 is 4 per core the crawl may run on, between 4 and 16.
LINKCRAWL_RENDER_PAGES = 0
LINKCRAWL_RENDER_TIMEOUT = 20.0
LINKCRAWL_RENDER_RETRIES = 2
# A page is quiet once, for this many seconds, no request of it has been in flight, no
# timer of its scripts due within 2 s has been pending and its links have not changed;
# then its DOM is extracted (docs/rendering.md).
LINKCRAWL_RENDER_IDLE = 0.1
# --render auto: a host whose first this many pages rendered for their shell signals found
# no link their HTML lacks is not rendered any more (0: never stop).
LINKCRAWL_RENDER_PROBE_PAGES = 5
# Crawl only the seeds' host names rather than their whole registered domains.
LINKCRAWL_SAME_HOST = False
# Landmark rules for link positions, checked before the built-in ones, first match wins:
# [{"position": "sidebar", "tags": [], "roles": [], "tokens": ["related-posts"]}]
LINKCRAWL_POSITION_RULES: list = []
# Set by `linkcrawl crawl --workers N` for its worker processes: the worker's name (it goes
# into part file names) and whether this process writes the crawl's manifest.
LINKCRAWL_WORKER = ""
# Set by `linkcrawl crawl --resume`: rebuild the queue from the rows already on disk.
LINKCRAWL_RESUME = False
# Set by `linkcrawl crawl --incremental`: the finished crawl this one builds on. Its pages'
# validators make conditional requests, and the edges of pages that answer 304 or whose
# body digest is unchanged are copied from it (docs/dataset.md, "Incremental crawls").
# Empty: a full crawl.
LINKCRAWL_SINCE = ""
# `linkcrawl crawl --revisit adaptive` (with --incremental): request only the earlier pages
# due by their revisit interval, most authoritative first; carry the others forward without
# a request (linkcrawl.crawl.revisit, docs/scheduling.md). full: request every page.
LINKCRAWL_REVISIT = "full"
# The adaptive revisit interval (Nutch's AdaptiveFetchSchedule defaults, but a first
# interval of one day): x(1 - DEC_RATE) when a page changed, x(1 + INC_RATE) when it did
# not, bounded to [MIN_S, MAX_S] seconds.
LINKCRAWL_REVISIT_INC_RATE = 0.4
LINKCRAWL_REVISIT_DEC_RATE = 0.2
LINKCRAWL_REVISIT_MIN_S = 60
LINKCRAWL_REVISIT_MAX_S = 365 * 86_400
LINKCRAWL_REVISIT_INITIAL_S = 86_400
LINKCRAWL_WRITE_MANIFEST = True
# ... and which worker owns each registered domain (or host), for handing URLs over.
LINKCRAWL_DOMAIN_OWNERS: dict = {}
# `linkcrawl crawl --redis URL`: share one crawl's frontier between workers on several
# machines through this Redis server (redis://HOST:PORT/DB; needs linkcrawl[distributed]).
# Empty: a crawl of this process alone. See docs/scaling.md.
LINKCRAWL_REDIS_URL = ""
# A worker of a shared crawl whose heartbeat is older than this many seconds is lost: the
# others put the requests it held back in the queue.
LINKCRAWL_REDIS_WORKER_TIMEOUT = 60.0
# `linkcrawl analyze`: link weights by position, and of nofollow/ugc/sponsored links
# (docs/authority.md). Empty means the defaults: content 1.0, header 0.5, navigation 0.5,
# sidebar 0.4, footer 0.25; nofollow 0. The --position-weight option overrides these.
LINKCRAWL_POSITION_WEIGHTS: dict = {}
LINKCRAWL_NOFOLLOW_WEIGHT = 0.0
# Print progress (pages, links, queue, errors, rate, ETA under --max-pages) to stderr every
# this many seconds (0: off), rewritten in place on a terminal; when stderr is not a
# terminal (a journal, a log file), a line every LINKCRAWL_PROGRESS_JOURNAL_SECONDS instead.
LINKCRAWL_PROGRESS_SECONDS = 0.0
LINKCRAWL_PROGRESS_JOURNAL_SECONDS = 30.0
