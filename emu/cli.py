"""emu's command line: parses, then delegates. Nothing here models a kernel or formats a report."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="emu: an emulated many-CPU kernel for studying scalability collapses.",
)
validate_app = typer.Typer(no_args_is_help=True, help="Validate emu's primitives under real concurrency.")
app.add_typer(validate_app, name="validate")


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit: emu's answer to bad input."""
    typer.echo(f"emu: {message}", err=True)
    raise typer.Exit(code)


@validate_app.command("epoch")
def validate_epoch(
    procs: int = typer.Option(4, "--procs", help="Reader/writer processes."),
    seconds: float = typer.Option(5.0, "--seconds", help="How long to run (host seconds)."),
    inject: str = typer.Option(None, "--inject", help="Inject a known bug, e.g. skip-grace."),
) -> None:
    """ck-style validation of emu.epoch: readers never see a freed object."""
    from emu.epoch.validate import run_validate

    raise typer.Exit(run_validate(procs=procs, seconds=seconds, inject=inject))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
