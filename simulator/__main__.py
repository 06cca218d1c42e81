"""Run the simulated tenant on its own: ``python -m simulator --users 1000 --groups 20 --port 8443``.

``--redirect-uri`` (repeatable) registers a reply URL of the app, which admin consent and sign-in send the
browser back to, e.g. ``--redirect-uri http://127.0.0.1:8080/api/v1/directory/consent-callback``."""

from __future__ import annotations

import argparse
import asyncio

from simulator.generate import generate_tenant
from simulator.server import Simulator


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument("--nesting", type=int, default=2)
    parser.add_argument("--photo-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tenant-id")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--redirect-uri", action="append", default=[], help="a reply URL of the app")
    return parser.parse_args()


async def _serve(args: argparse.Namespace) -> None:
    tenant = generate_tenant(
        args.users,
        args.groups,
        args.nesting,
        args.photo_share,
        args.seed,
        args.tenant_id,
        args.client_id,
        args.client_secret,
    )
    client_id, secret = next(iter(tenant.apps.items()))
    try:
        for uri in args.redirect_uri:
            tenant.add_redirect_uri(client_id, uri)
    except ValueError as exc:
        raise SystemExit(f"--redirect-uri: {exc}") from None
    async with Simulator(port=args.port) as sim:
        sim.add_tenant(tenant)
        print(f"graph url:     {sim.graph_url}")
        print(f"authority url: {sim.authority_url}")
        print(f"tenant id:     {tenant.tenant_id}")
        print(f"client id:     {client_id}")
        print(f"client secret: {secret}")
        print(
            f"reply URLs:    {', '.join(tenant.redirect_uris[client_id]) or 'none (--redirect-uri adds one)'}"
        )
        print(f"CA file:       {sim.ca_file}")
        print(f"{len(tenant.users)} users, {len(tenant.groups)} groups. Ctrl-C stops.", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    try:
        asyncio.run(_serve(_arguments()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
