"""Command-line options declared once, for two readers: typer, which builds the command
(its `--help`, its error messages), and `parse_options`, which reads the common case of
`schedule:run` without importing typer.

Why two readers: the system crontab starts `schedule:run` every minute on every server,
and importing typer and the click it vendors costs a tick more than everything else it
does when nothing is due. So the tick's own command line (`--at`, `--dry-run`) is read
here; anything else (`--help`, a misspelt option, a bad value) goes to typer, which says
what is wrong in its usual words. Both read the `Option` declarations below, and the
command's function is built from them, so they cannot disagree.

This module imports nothing beyond the standard library's cheapest parts; typer only
inside the functions that build its side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:  # without importing typing at run time (see the module's docstring)
    from typing import Any


class Option:
    """A command's `--flag`: a value it takes (`--at INSTANT`, None when not given), or a
    switch (`--dry-run`, False when not given). `check` turns a value down by raising
    ValueError; typer then shows the error against the option."""

    __slots__ = ("check", "flag", "help", "metavar", "takes_value")

    def __init__(self, flag: str, help: str, *, metavar: str | None = None,
                 takes_value: bool = True,
                 check: Callable[[str], object] | None = None) -> None:
        self.flag = flag
        self.help = help
        self.metavar = metavar
        self.takes_value = takes_value
        self.check = check

    @property
    def parameter(self) -> str:
        """The Python name of the option's value: `--dry-run` is `dry_run`."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def default(self) -> str | bool | None:
        return None if self.takes_value else False

    def typer_annotation(self) -> Any:
        """`Annotated[type, typer.Option(...)]`, as typer reads a parameter."""
        from typing import Annotated

        import typer

        kind = (str | None) if self.takes_value else bool
        return Annotated[kind, typer.Option(self.flag, help=self.help,
                                            metavar=self.metavar)]


def parse_options(options: Sequence[Option], argv: Sequence[str]) -> dict[str, object] | None:
    """The value of each of `options` in `argv` (by parameter name), or None when `argv`
    is anything but those options, each at most once, with good values: then typer
    should read it and explain."""
    by_flag = {option.flag: option for option in options}
    values: dict[str, object] = {option.parameter: option.default for option in options}
    seen = set()
    index = 0
    while index < len(argv):
        flag, equals, value = argv[index].partition("=")
        option = by_flag.get(flag)
        if option is None or flag in seen or (equals and not option.takes_value):
            return None
        seen.add(flag)
        index += 1
        if option.takes_value:
            if not equals:
                if index == len(argv) or argv[index].startswith("-"):
                    return None
                value = argv[index]
                index += 1
            if option.check is not None:
                try:
                    option.check(value)
                except ValueError:
                    return None
            values[option.parameter] = value
        else:
            values[option.parameter] = True
    return values


def typer_command(body: Callable[..., None], options: Sequence[Option], *,
                  doc: str, with_context: bool = False) -> Callable[..., None]:
    """A function for `app.command()` whose parameters are `options`: typer reads its
    signature and annotations and calls it, and it calls `body` with the same keyword
    arguments (and typer's context first, with `with_context`)."""
    import inspect

    import typer

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(option.parameter, keyword, default=option.default,
                                    annotation=option.typer_annotation())
                  for option in options]
    if with_context:
        parameters.insert(0, inspect.Parameter("context", keyword, annotation=typer.Context))

    def command(*args: Any, **values: Any) -> None:
        for option in options:
            value = values.get(option.parameter)
            if option.check is not None and isinstance(value, str):
                try:
                    option.check(value)
                except ValueError as error:
                    raise typer.BadParameter(str(error), param_hint=option.flag) from None
        body(*args, **values)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {parameter.name: parameter.annotation
                               for parameter in parameters}
    command.__doc__ = doc
    command.__name__ = command.__qualname__ = body.__name__
    command.__module__ = body.__module__
    return command
