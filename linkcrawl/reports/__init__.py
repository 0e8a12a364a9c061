"""Read the tables and answer a question: backlinks, monitor (diff, history, broken),
audit and disavow, the HTML report, and how the commands print."""
