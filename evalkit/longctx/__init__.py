"""Long-context evaluations of the Code Llama paper (section 3.3, appendix G.2): what the tasks ``key-retrieval``
and ``lcc-*`` share. ``tokens``: lengths in the model's own tokens; ``filler``: the key-retrieval filler code;
``keyprompt``: the key-retrieval prompt builder; ``balance``: LCC-balanced resampling; ``plots``: the paper's
Fig. 4b and Fig. 9b curves from a run's results."""
