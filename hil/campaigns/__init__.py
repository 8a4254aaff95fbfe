"""Many runs and what they show: fault-injection campaigns (:mod:`.campaign`), dispersed
Monte Carlo on a Dask cluster or local workers (:mod:`.montecarlo`), and the HTML reports
of runs and campaigns (:mod:`.report`)."""
