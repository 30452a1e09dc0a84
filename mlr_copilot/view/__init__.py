"""What a person sees of a run: the live view, the result at the end, the HTML report."""
