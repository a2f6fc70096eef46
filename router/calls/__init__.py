"""What happens to a call: the pure per-call flow and queue policy, what callers hear, and the shell.

Pure (no asyncio, no aiohttp, no clock): `flow` (one call as a state machine), `queue` (one line's
queue), `guidance` (the Danish sentences a closed line says), `dialplan` (the same flow as Asterisk
dialplan, for calls while the router is down). The shell: `runtime` (where ARI events reach calls
and commands are carried out), `queue_runner` (the queue's ARI side), `shedding` and `reconcile`.
`prompts` is the manifest of prompt texts and its espeak-ng build.
"""
