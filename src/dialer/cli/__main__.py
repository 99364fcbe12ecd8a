from dialer.cli.main import app

app(prog_name="dialer")
