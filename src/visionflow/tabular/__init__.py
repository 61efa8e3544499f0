"""Table columns that go into a model beside its images (multimodal fusion): choosing them,
learning their preprocessing and applying it (`columns`)."""
