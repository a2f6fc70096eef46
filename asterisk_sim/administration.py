"""Asterisk's own administration through ARI, on the simulated Asterisk: its modules, its log
channels and its dynamic (sorcery) configuration, as res/ari/resource_asterisk.c answers.

What is modelled is what a client can rely on: the refusals, word for word, and the state a request
leaves. The simulator runs no modules of its own; it lists the ones whose part of ARI it plays. Log
channels are kept and listed; one added through ARI is a file under /var/log/asterisk, and cannot be
deleted through ARI (Asterisk 22 looks it up by the name given, but keeps it under its path). Its
endpoints have no sorcery configuration to show or change.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from asterisk_sim.answers import AriFault, Json, ok

# The logger's levels, in its order: a channel's configuration lists them so, each with a space after it.
LEVELS = ("DEBUG", "TRACE", "NOTICE", "WARNING", "ERROR", "VERBOSE", "DTMF")
# Sorcery's object types of res_pjsip (its configuration comes from pjsip.conf: none can be created).
PJSIP_TYPES = ("endpoint", "aor", "auth", "contact", "transport", "identify", "domain_alias", "global", "system")


@dataclass
class Module:
    name: str
    description: str
    support_level: str = "core"
    reloadable: bool = False

    def json(self) -> Json:
        return {
            "name": self.name,
            "description": self.description,
            "use_count": 0,
            "status": "Running",
            "support_level": self.support_level,
        }


MODULES = [
    Module("res_ari.so", "Asterisk RESTful Interface", reloadable=True),
    Module("res_stasis.so", "Stasis application support"),
    Module("app_stasis.so", "Stasis dialplan application"),
    Module("res_ari_applications.so", "RESTful API module - Stasis application resources"),
    Module("res_ari_asterisk.so", "RESTful API module - Asterisk resources"),
    Module("res_ari_bridges.so", "RESTful API module - Bridge resources"),
    Module("res_ari_channels.so", "RESTful API module - Channel resources"),
    Module("res_ari_device_states.so", "RESTful API module - Device state resources"),
    Module("res_ari_endpoints.so", "RESTful API module - Endpoint resources"),
    Module("res_ari_events.so", "RESTful API module - WebSocket resource"),
    Module("res_ari_playbacks.so", "RESTful API module - Playback control resources"),
    Module("res_ari_recordings.so", "RESTful API module - Recording resources"),
    Module("res_ari_sounds.so", "RESTful API module - Sound resources"),
    Module("chan_pjsip.so", "PJSIP Channel Driver"),
]


def configured_log_channels() -> list[Json]:
    """The log channels of a started Asterisk: logger.conf's (the console's). One added through ARI
    lives until Asterisk restarts (seen on 22.10.1: gone after a restart, and not written anywhere)."""
    return [{"channel": "", "type": "Console", "status": "Enabled", "configuration": "NOTICE WARNING ERROR VERBOSE "}]


def administration_routes(log_channels: list[Json]) -> web.RouteTableDef:
    """The routes, on the world's `log_channels` (a restart sets them back to `configured_log_channels()`)."""
    r = web.RouteTableDef()
    modules = {m.name: m for m in MODULES}

    @r.get("/ari/asterisk/modules")
    async def list_modules(_: web.Request) -> web.Response:
        return ok([m.json() for m in sorted(modules.values(), key=lambda m: m.name)])

    @r.get("/ari/asterisk/modules/{name}")
    async def get_module(request: web.Request) -> web.Response:
        module = modules.get(request.match_info["name"])
        if module is None:
            raise AriFault(404, "Module could not be found in running modules")
        return ok(module.json())

    @r.route("*", "/ari/asterisk/modules/{name}")
    async def load_unload_or_reload(request: web.Request) -> web.Response:
        if request.method not in ("POST", "PUT", "DELETE"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST", "PUT", "DELETE"])
        if request.method == "POST":
            if request.match_info["name"] in modules:
                raise AriFault(409, "Module is already loaded")
            raise AriFault(409, "Module load declined")  # the simulator has no other module to load
        module = modules.get(request.match_info["name"])
        if module is None:
            raise AriFault(404, "Module not found in running modules")
        if request.method == "PUT" and not module.reloadable:
            raise AriFault(409, "Module does not support reloading")
        if request.method == "DELETE":
            raise AriFault(409, "Module could not be unloaded")  # the simulator's modules are what it is
        return ok()

    @r.get("/ari/asterisk/logging")
    async def list_log_channels(_: web.Request) -> web.Response:
        return ok(log_channels)

    @r.post("/ari/asterisk/logging/{name}")
    async def add_log_channel(request: web.Request) -> web.Response:
        configuration = request.query.get("configuration", "")
        if not configuration:
            raise AriFault(400, "Configuration levels are required")
        path = f"/var/log/asterisk/{request.match_info['name']}"
        if any(c["channel"] == path for c in log_channels):
            raise AriFault(409, "Log channel already exists")
        wanted = {level.strip().upper() for level in configuration.split(",")}
        levels = "".join(f"{level} " for level in LEVELS if level in wanted)  # unknown levels are left out
        log_channels.insert(0, {"channel": path, "type": "File", "status": "Enabled", "configuration": levels})
        return ok()

    @r.delete("/ari/asterisk/logging/{name}")
    async def delete_log_channel(_: web.Request) -> web.Response:
        # Asterisk 22 looks the channel up by the name given, but keeps a file's under its path, and a name
        # in a URL has no slash: no channel added through ARI can be deleted through it (seen on 22.10.1).
        raise AriFault(404, "Log channel does not exist")

    @r.put("/ari/asterisk/logging/{name}/rotate")
    async def rotate_log_channel(request: web.Request) -> web.Response:
        if not any(c["channel"] == f"/var/log/asterisk/{request.match_info['name']}" for c in log_channels):
            raise AriFault(404, "Log channel does not exist")
        return ok()

    @r.route("*", "/ari/asterisk/config/dynamic/{class}/{type}/{id}")
    async def dynamic_configuration(request: web.Request) -> web.Response:
        if request.method not in ("GET", "PUT", "DELETE"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "PUT", "DELETE"])
        config_class, object_type = request.match_info["class"], request.match_info["type"]
        if config_class != "res_pjsip":
            raise AriFault(404, f"configClass '{config_class}' not found")
        if object_type not in PJSIP_TYPES:
            raise AriFault(404, f"objectType '{object_type}' not found")
        if request.method == "PUT":
            raise AriFault(403, f"Cannot create sorcery objects of type '{object_type}'")
        raise AriFault(404, f"Object with id '{request.match_info['id']}' not found")

    return r
